"""Medical care by designated hospitals (visits, costs, disability assessments) and the mandatory
suspected-trafficking reports to the police (强制报告)."""
